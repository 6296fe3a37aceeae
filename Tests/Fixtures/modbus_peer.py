#!/usr/bin/env python3
"""An independent Modbus peer for hazmon's tests: pymodbus serving TCP on a loopback port or
RTU on a serial device (one end of a socat pty pair), with several unit ids.

The register image comes from a JSON file, re-read whenever it changes, so a test can change
values while hazmon polls:

  {"units": {"1": {"input": {"0": [16968, 0]}, "holding": {"100": [1, 2]},
                   "coil": {"0": [1, 0]}, "discrete": {"0": [1]}}},
   "heartbeat": {"unit": 1, "table": "holding", "address": 50, "period": 0.3}}

Each table of each unit holds SIZE values from address 0; reading past them gets a Modbus
exception 2 (illegal data address), which is how the tests provoke exceptions.

Usage: modbus_peer.py --image FILE (--tcp PORT | --rtu DEVICE [--baud 9600 --parity N
       --stopbits 1]) [--size 200] [--log FILE]
"""
import argparse, asyncio, json, os, sys, time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer

# pymodbus 3.6 (pinned in .ci/setup): zero_mode makes protocol address A the block's index A.
FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


class LoggingContext(ModbusSlaveContext):
    """Writes "UNIT FC ADDRESS COUNT MONOTONIC_SECONDS" per answered read to the request log."""

    def __init__(self, unit, log, **kwargs):
        super().__init__(**kwargs)
        self.unit = unit
        self.log = log

    def getValues(self, fc_as_hex, address, count=1):
        if self.log and fc_as_hex in (1, 2, 3, 4):
            self.log.write(f"{self.unit} {fc_as_hex} {address} {count} {time.monotonic():.6f}\n")
            self.log.flush()
        return super().getValues(fc_as_hex, address, count)


def build(image, size, log):
    devices = {}
    for unit in image.get("units", {}):
        blocks = {k: ModbusSequentialDataBlock(0, [0] * size) for k in ("co", "di", "hr", "ir")}
        devices[int(unit)] = LoggingContext(int(unit), log, zero_mode=True, **blocks)
    return devices


def apply(devices, image):
    for unit, tables in image.get("units", {}).items():
        dev = devices.get(int(unit))
        if dev is None:
            continue
        for table, cells in tables.items():
            for addr, values in cells.items():
                dev.setValues(FC[table], int(addr), values)


async def watch(path, devices):
    mtime = None
    toggle = 0
    while True:
        try:
            m = os.stat(path).st_mtime_ns
            if m != mtime:
                mtime = m
                with open(path) as f:
                    image = json.load(f)
                apply(devices, image)
        except (OSError, ValueError) as e:
            print(f"modbus_peer: image: {e}", file=sys.stderr)
            image = {}
        hb = image.get("heartbeat")
        if hb and devices.get(int(hb["unit"])):
            toggle ^= 1
            devices[int(hb["unit"])].setValues(FC[hb["table"]], int(hb["address"]), [toggle])
            await asyncio.sleep(float(hb.get("period", 0.3)))
        else:
            await asyncio.sleep(0.05)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--tcp", type=int)
    ap.add_argument("--rtu")
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--parity", default="N")
    ap.add_argument("--stopbits", type=int, default=1)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--log", help="append one line per answered read request")
    a = ap.parse_args()
    with open(a.image) as f:
        image = json.load(f)
    log = open(a.log, "a") if a.log else None
    devices = build(image, a.size, log)
    apply(devices, image)
    context = ModbusServerContext(slaves=devices, single=False)
    asyncio.get_running_loop().create_task(watch(a.image, devices))
    if a.tcp:
        await StartAsyncTcpServer(context=context, address=("127.0.0.1", a.tcp))
    else:
        await StartAsyncSerialServer(context=context, port=a.rtu, baudrate=a.baud, parity=a.parity,
                                     stopbits=a.stopbits, bytesize=8, framer=ModbusRtuFramer)


if __name__ == "__main__":
    asyncio.run(main())
