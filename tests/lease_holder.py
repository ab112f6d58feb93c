"""A process that holds leases on sources until it is killed: `python -c HOLD_LEASE <ids...>`
prints the ids it holds, then sleeps (what a live worker on another machine looks like)."""

HOLD_LEASE = (
    "import sys, time\n"
    "from intake.leases import lease_sources\n"
    "with lease_sources(sys.argv[1:]) as held:\n"
    "    print(' '.join(held), flush=True)\n"
    "    time.sleep(600)\n"
)
