"""Start one measured command from a tiny process and write its wall, CPU and peak RSS to a file.

    python -S -I bench/launch.py RESULT_FILE COMMAND...

Why not measure from the benchmark itself: Linux carries a process's peak RSS across exec, and a
child made by vfork or fork starts with its parent's, so a child of a big parent (the benchmark
after reading a 40 MB index) would report at least that. Forked from this ~8 MB process the
figure is the command's own. Standard library only, nothing imported that is not needed.
"""

import os
import sys
import time


def main() -> None:
    result, command = sys.argv[1], sys.argv[2:]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(command[0], command)
        finally:
            os._exit(127)
    _, raw, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    with open(result, "w", encoding="ascii") as handle:
        handle.write(f"{wall} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss} {os.waitstatus_to_exitcode(raw)}\n")


if __name__ == "__main__":
    main()
