#!/usr/bin/env python3
"""A Sparkplug B edge node for hazmon's tests, written apart from hazmon: payloads are built with
Google's protobuf runtime and the official Eclipse Tahu schema (the generated module that
pysparkplug ships, from PyPI), MQTT is paho-mqtt.

    sparkplug_edge.py --port P --group G --node N --spec JSON

--spec: {"metrics": [{"name": "CH4", "alias": 1, "type": "Double", "value": 5.0}, ...],
         "devices": {"panel": [{"name": "Temp", "alias": 10, "type": "Int16", "value": -3}]}}

On connecting it sets its NDEATH (with bdSeq) as the MQTT will, publishes NBIRTH and a DBIRTH per
device. It answers an NCMD `Node Control/Rebirth` with new births and prints "REBIRTH <n>".
Commands on stdin, one per line (each answered "OK" once published):
    data METRIC VALUE      NDATA or DDATA by alias, the next seq
    null METRIC            the metric with is_null
    quality METRIC VALUE Q a value with a Quality property (192 good, 500 stale, 0 bad)
    gap                    skip one seq number before the next message
    raw HEX TOPIC-KIND     publish HEX bytes as NDATA (hostile payloads)
    ddeath DEVICE          the device's DDEATH
    quit                   disconnect cleanly after an NDEATH
Killing the process with SIGKILL leaves the will to the broker, as a crashed edge would.
"""
import argparse
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from pysparkplug._protobuf import sparkplug_b_pb2 as spb

TYPES = {"Int8": 1, "Int16": 2, "Int32": 3, "Int64": 4, "UInt8": 5, "UInt16": 6, "UInt32": 7,
         "UInt64": 8, "Float": 9, "Double": 10, "Boolean": 11, "String": 12}


def put_value(m, type_name, value):
    t = TYPES[type_name]
    m.datatype = t
    if value is None:
        m.is_null = True
    elif t in (1, 2, 3):
        m.int_value = int(value) & 0xFFFFFFFF          # two's complement in 32 bits
    elif t in (5, 6, 7):
        m.int_value = int(value)
    elif t in (4, 8):
        m.long_value = int(value) & 0xFFFFFFFFFFFFFFFF
    elif t == 9:
        m.float_value = float(value)
    elif t == 10:
        m.double_value = float(value)
    elif t == 11:
        m.boolean_value = bool(value)
    elif t == 12:
        m.string_value = str(value)


class Edge:
    def __init__(self, args):
        self.group, self.node = args.group, args.node
        spec = json.loads(args.spec)
        self.metrics = spec.get("metrics", [])
        self.devices = spec.get("devices", {})
        self.seq = 0
        self.bd_seq = int(time.time()) % 256
        self.rebirths = 0
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-{self.node}", clean_session=True)
        self.c.will_set(self.topic("NDEATH"), self.death_payload(), qos=1, retain=False)
        self.c.on_connect = self.on_connect
        self.c.on_message = self.on_message
        self.c.connect("127.0.0.1", args.port, keepalive=5)

    def topic(self, kind, device=None):
        return f"spBv1.0/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def death_payload(self):
        p = spb.Payload()
        p.timestamp = int(time.time() * 1000)
        m = p.metrics.add()
        m.name = "bdSeq"
        m.datatype = TYPES["Int64"]
        m.long_value = self.bd_seq
        return p.SerializeToString()

    def next_seq(self):
        s = self.seq
        self.seq = (self.seq + 1) % 256
        return s

    def births(self):
        with self.lock:
            self.seq = 0
            p = spb.Payload()
            p.timestamp = int(time.time() * 1000)
            p.seq = self.next_seq()
            for d in self.metrics:
                m = p.metrics.add()
                m.name, m.alias = d["name"], d["alias"]
                put_value(m, d["type"], d.get("value"))
            bd = p.metrics.add()
            bd.name = "bdSeq"
            bd.datatype = TYPES["Int64"]
            bd.long_value = self.bd_seq
            self.c.publish(self.topic("NBIRTH"), p.SerializeToString(), qos=0)
            for dev, metrics in self.devices.items():
                p = spb.Payload()
                p.timestamp = int(time.time() * 1000)
                p.seq = self.next_seq()
                for d in metrics:
                    m = p.metrics.add()
                    m.name, m.alias = d["name"], d["alias"]
                    put_value(m, d["type"], d.get("value"))
                self.c.publish(self.topic("DBIRTH", dev), p.SerializeToString(), qos=0)

    def on_connect(self, client, userdata, flags, rc, properties=None):
        client.subscribe(self.topic("NCMD"), qos=0)
        self.births()
        self.connected.set()
        print("BORN", flush=True)

    def on_message(self, client, userdata, msg):
        p = spb.Payload()
        p.ParseFromString(msg.payload)
        for m in p.metrics:
            if m.name == "Node Control/Rebirth" and m.boolean_value:
                self.rebirths += 1
                self.births()
                print(f"REBIRTH {self.rebirths}", flush=True)

    def find(self, name):
        for d in self.metrics:
            if d["name"] == name:
                return None, d
        for dev, metrics in self.devices.items():
            for d in metrics:
                if d["name"] == name:
                    return dev, d
        raise KeyError(name)

    def publish_metric(self, name, value, quality=None):
        dev, d = self.find(name)
        with self.lock:
            p = spb.Payload()
            p.timestamp = int(time.time() * 1000)
            p.seq = self.next_seq()
            m = p.metrics.add()
            m.alias = d["alias"]
            m.timestamp = p.timestamp
            put_value(m, d["type"], value)
            if quality is not None:
                m.properties.keys.append("Quality")
                v = m.properties.values.add()
                v.type = TYPES["Int32"]
                v.int_value = quality
            info = self.c.publish(self.topic("DDATA" if dev else "NDATA", dev), p.SerializeToString(), qos=0)
        info.wait_for_publish(5)

    def run(self):
        self.c.loop_start()
        if not self.connected.wait(10):
            print("NO CONNECTION", flush=True)
            sys.exit(1)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            cmd = words[0]
            if cmd == "data":
                self.publish_metric(words[1], float(words[2]))
            elif cmd == "null":
                self.publish_metric(words[1], None)
            elif cmd == "quality":
                self.publish_metric(words[1], float(words[2]), int(words[3]))
            elif cmd == "gap":
                with self.lock:
                    self.next_seq()
            elif cmd == "raw":
                self.c.publish(self.topic("NDATA"), bytes.fromhex(words[1]), qos=0).wait_for_publish(5)
            elif cmd == "ddeath":
                with self.lock:
                    p = spb.Payload()
                    p.timestamp = int(time.time() * 1000)
                    p.seq = self.next_seq()
                    info = self.c.publish(self.topic("DDEATH", words[1]), p.SerializeToString(), qos=0)
                info.wait_for_publish(5)
            elif cmd == "quit":
                self.c.publish(self.topic("NDEATH"), self.death_payload(), qos=1).wait_for_publish(5)
                self.c.disconnect()
                self.c.loop_stop()
                print("OK", flush=True)
                return
            print("OK", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--spec", required=True)
    Edge(ap.parse_args()).run()
