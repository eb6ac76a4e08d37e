"""The contract suite: schemathesis over every operation of this API, with
auth handled inside the run, the contract's own checks, and a lifecycle chain.

`run_suite(SuiteOptions(base_url=...))` tests any server; `harness contract`
wraps it (and starts the embedded mock when no base URL is given).
"""

from contracts.suite.runner import (
    Finding,
    OperationTally,
    Progress,
    SuiteOptions,
    SuiteReport,
    run_suite,
)
from contracts.suite.session import Credentials, Gateway
from contracts.suite.setup import SetupError

__all__ = [
    "Credentials",
    "Finding",
    "Gateway",
    "OperationTally",
    "Progress",
    "SetupError",
    "SuiteOptions",
    "SuiteReport",
    "run_suite",
]
