"""python -m scenarios [list | run NAME [options]]"""
import sys

from scenarios import SCENARIOS, load


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("list", "-h", "--help"):
        print("usage: python -m scenarios run NAME [--out DIR] [scenario options]\n")
        print("scenarios:")
        for name, what in SCENARIOS.items():
            print(f"  {name:<16} {what}")
        return 0
    if argv[0] == "run" and len(argv) >= 2:
        return load(argv[1]).main(argv[2:])
    # `python -m scenarios NAME ...` is accepted as a shorthand for `run NAME ...`
    return load(argv[0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
