"""`python -m harness` is the same as the `medbench` command (torchrun needs a module)."""

from harness.cli import main

if __name__ == "__main__":
    main()
