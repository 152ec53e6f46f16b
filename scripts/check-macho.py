#!/usr/bin/env python3
"""Checks a darwin release binary without a Mac: a 64-bit Mach-O executable of the expected
architecture, whose dylibs and frameworks all come with a stock macOS (/usr/lib and
/System/Library, served from the dyld shared cache). Prints the load commands it read.

usage: check-macho.py BINARY arm64|x86_64     exit 1 when any check fails"""

from __future__ import annotations

import struct
import sys

MH_MAGIC_64 = 0xFEEDFACF
MH_EXECUTE = 0x2
CPU_TYPES = {"x86_64": 0x01000007, "arm64": 0x0100000C}
LC_REQ_DYLD = 0x80000000
# Commands that name a dylib the loader must find at start-up.
DYLIB_COMMANDS = {0xC: "LC_LOAD_DYLIB", 0x18 | LC_REQ_DYLD: "LC_LOAD_WEAK_DYLIB",
                  0x1F | LC_REQ_DYLD: "LC_REEXPORT_DYLIB", 0x23 | LC_REQ_DYLD: "LC_LOAD_UPWARD_DYLIB"}
NAMES = {0x19: "LC_SEGMENT_64", 0x2: "LC_SYMTAB", 0xB: "LC_DYSYMTAB", 0xE: "LC_LOAD_DYLINKER",
         0x1B: "LC_UUID", 0x32: "LC_BUILD_VERSION", 0x2A: "LC_SOURCE_VERSION", 0x28 | LC_REQ_DYLD: "LC_MAIN",
         0x26: "LC_FUNCTION_STARTS", 0x29: "LC_DATA_IN_CODE", 0x1D: "LC_CODE_SIGNATURE",
         0x22 | LC_REQ_DYLD: "LC_DYLD_INFO_ONLY", 0x33 | LC_REQ_DYLD: "LC_DYLD_EXPORTS_TRIE",
         0x34 | LC_REQ_DYLD: "LC_DYLD_CHAINED_FIXUPS", 0x1C | LC_REQ_DYLD: "LC_RPATH", **DYLIB_COMMANDS}
STOCK_PREFIXES = ("/usr/lib/", "/System/Library/Frameworks/", "/System/Library/PrivateFrameworks/")


def main(path: str, arch: str) -> int:
    data = open(path, "rb").read()
    magic, cputype, _sub, filetype, ncmds, _size, _flags, _reserved = struct.unpack_from("<IiiIIIII", data, 0)
    problems = []
    if magic != MH_MAGIC_64:
        print(f"{path}: not a 64-bit little-endian Mach-O (magic {magic:#x})")
        return 1
    if cputype != CPU_TYPES[arch]:
        problems.append(f"CPU type {cputype:#x}, expected {arch} ({CPU_TYPES[arch]:#x})")
    if filetype != MH_EXECUTE:
        problems.append(f"file type {filetype}, expected MH_EXECUTE")
    print(f"{path}: Mach-O 64-bit executable, cputype {cputype:#x} ({arch}), {ncmds} load commands")
    offset = 32
    dylibs = []
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, offset)
        name = NAMES.get(cmd, f"{cmd:#x}")
        detail = ""
        if cmd in DYLIB_COMMANDS or cmd in (0xE, 0x1C | LC_REQ_DYLD):
            (name_offset,) = struct.unpack_from("<I", data, offset + 8)
            detail = data[offset + name_offset:offset + cmdsize].split(b"\0", 1)[0].decode()
            if cmd in DYLIB_COMMANDS:
                dylibs.append(detail)
        elif cmd == 0x19:
            detail = data[offset + 8:offset + 24].split(b"\0", 1)[0].decode()
        print(f"  {name:24} {detail}")
        offset += cmdsize
    for dylib in dylibs:
        if not dylib.startswith(STOCK_PREFIXES):
            problems.append(f"imports {dylib}, which a stock macOS does not have")
    print(f"  imported: {', '.join(dylibs) or 'nothing'}")
    for problem in problems:
        print(f"  FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in CPU_TYPES:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
