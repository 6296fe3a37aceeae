#!/usr/bin/env python3
"""A Modbus TCP server that answers every request wrongly, one way per connection, in turn:
a byte count that does not match the request, an answer from another unit, an answer to
another function, and garbage that is no frame at all. For the test that hazmon reports
each as a failed poll (never a value) and keeps serving its other devices.

Usage: garbled_modbus.py PORT
"""
import socket, struct, sys, threading

MODES = ["short", "unit", "function", "garbage"]


def serve(conn, mode):
    with conn:
        while True:
            req = conn.recv(260)
            if len(req) < 12:
                return
            tid, _, _, unit, fc = struct.unpack(">HHHBB", req[:8])
            if mode == "short":      # 2 data bytes for a 10-register request
                pdu = bytes([fc, 2, 0, 42])
            elif mode == "unit":     # the right answer, from unit 99
                pdu, unit = bytes([fc, 20]) + bytes(20), 99
            elif mode == "function":  # an answer to function 3 for a function 4 request
                pdu = bytes([3 if fc != 3 else 4, 20]) + bytes(20)
            else:
                conn.sendall(b"\xde\xad\xbe\xef" * 8)
                continue
            conn.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(sys.argv[1])))
    srv.listen(16)
    n = 0
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, MODES[n % len(MODES)]), daemon=True).start()
        n += 1


if __name__ == "__main__":
    main()
