"""Load the mock into mitmproxy's own tools, for power users:

    mitmdump -s mocks/script.py --mode reverse:http://127.0.0.1:9 \
        --set connection_strategy=lazy --set harness_access_ttl_s=60

Every mitmproxy flag works alongside; in `mitmweb -s mocks/script.py ...` each flow
is marked with what the mock did (mocks/flow_marks.py), as in `harness mock --web`.
`harness mock` is the same mock on a leaner master (only the mitmproxy addons it
needs), which is faster.
"""

from mocks.flow_marks import FlowMarks
from mocks.server import mock_addons
from mocks.state import MockState

state = MockState()
addons = [*mock_addons(state), FlowMarks(state)]
