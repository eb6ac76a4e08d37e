"""The reference client under load: `locust -f loadtests/locustfile.py`.

`harness load` runs this file in a locust subprocess (see docs/load-testing.md);
run it by hand for distributed runs:

    locust -f loadtests/locustfile.py --master --headless -u 200 -r 20 -t 5m \
        --host http://MOCK:8080 --harness-profile fault-mix --expect-workers 4
    locust -f loadtests/locustfile.py --worker --master-host MASTER   # on each host
"""

from __future__ import annotations

from loadtests.users import ClientUser


class ReferenceClientUser(ClientUser):
    """The reference client (`harness.client.ApiClient`) as it ships."""
