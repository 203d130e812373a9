"""A stand-in for Windows' icacls, for running the agent's Windows branch on Linux.

It keeps an access control list per file (by inode, so a list follows a rename
as it does on an NTFS volume) in the JSON file named by $FAKE_ICACLS_STATE, and
understands what the agent and an operator use:

    icacls PATH                                  list the entries, as icacls prints them
    icacls PATH /inheritance:r                   drop inherited entries
    icacls PATH /grant[:r] "PRINCIPAL:RIGHTS"     add (or, with :r, replace) a principal's entry
    icacls PATH /remove[:g] PRINCIPAL             drop a principal's granted entries

A file it has not seen inherits from its folder's (OI) entries, or else gets the
list a folder under C:\\ProgramData hands down (every user may read). Each call's
arguments are appended to $FAKE_ICACLS_LOG.
"""
import json
import os
import re
import sys
from pathlib import Path

PROGRAMDATA_DEFAULT = [["NT AUTHORITY\\SYSTEM", "(I)(F)"], ["BUILTIN\\Administrators", "(I)(F)"],
                       ["BUILTIN\\Users", "(I)(RX)"]]


def rights(text: str) -> str:
    """"F" -> "(F)", "(OI)(CI)F" -> "(OI)(CI)(F)"."""
    groups = re.findall(r"\(([^)]*)\)|([A-Z,]+)", text)
    return "".join(f"({a or b})" for a, b in groups)


def inherited(path: Path, acls: dict) -> list:
    parent = acls.get(str(path.parent.stat().st_ino)) if path.parent.exists() else None
    if parent:
        handed = [[who, "(I)" + re.sub(r"\((OI|CI)\)", "", r)] for who, r in parent if "(OI)" in r]
        if handed:
            return handed
    return [list(e) for e in PROGRAMDATA_DEFAULT]


def main(argv: list[str]) -> int:
    state = Path(os.environ["FAKE_ICACLS_STATE"])
    with open(os.environ["FAKE_ICACLS_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    acls = json.loads(state.read_text()) if state.exists() else {}
    path = Path(argv[0])
    if not path.exists():
        print(f"{path}: The system cannot find the file specified.", file=sys.stderr)
        return 2
    inode = str(path.stat().st_ino)
    entries = acls.get(inode) or inherited(path, acls)
    switches = iter(argv[1:])
    for switch in switches:
        if switch == "/inheritance:r":
            entries = [e for e in entries if "(I)" not in e[1]]
        elif switch in ("/grant", "/grant:r"):
            who, _, granted = next(switches).rpartition(":")
            if switch == "/grant:r":
                entries = [e for e in entries if e[0].lower() != who.lower() or "(I)" in e[1]]
            entries.append([who, rights(granted)])
        elif switch in ("/remove", "/remove:g"):
            who = next(switches)
            entries = [e for e in entries if e[0].lower() != who.lower() or "(I)" in e[1]]
        else:
            print(f"Invalid parameter \"{switch}\"", file=sys.stderr)
            return 87
    acls[inode] = entries
    state.write_text(json.dumps(acls))
    if len(argv) == 1:
        indent = " " * (len(str(path)) + 1)
        for number, (who, granted) in enumerate(entries):
            print(f"{str(path) + ' ' if number == 0 else indent}{who}:{granted}")
        print("\nSuccessfully processed 1 files; Failed processing 0 files")
    else:
        print(f"processed file: {path}\nSuccessfully processed 1 files; Failed processing 0 files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
