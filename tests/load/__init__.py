"""Load and fault tests: a gateway process, 32 clients, a ledger of what was acknowledged.

See test_load.py; ``python -m tests.load`` (scripts/loadtest) runs longer with figures.
"""
