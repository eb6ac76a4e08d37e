"""A third-party-style locust file for the lending library API (plain HttpUser).

Nothing from the harness: this is what a team writes for its own API, and
`harness load --locustfile` must run it unchanged.

`LibraryMember` retries reads on 5xx but never a POST without an
Idempotency-Key. `RETRY_POSTS=1` in the environment turns it into the naive
client that resends a POST after a 502: against creations applied then
answered 502, each resend creates the book again.
"""

import itertools
import os
import random

from locust import HttpUser, between, task

RETRY_POSTS = os.environ.get("RETRY_POSTS") == "1"
_numbers = itertools.count(1)


class LibraryMember(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        answer = self.client.post(
            "/api/users/login",
            json={"user": {"email": "reader@example.org", "password": "reader-password"}},
            name="Login",
        )
        token = answer.json()["user"]["token"] if answer.ok else ""
        self.client.headers["Authorization"] = f"Token {token}"

    @task(3)
    def list_books(self) -> None:
        for _ in range(2):
            answer = self.client.get("/api/books", name="ListBooks")
            if answer.status_code < 500:
                return

    @task(1)
    def add_book(self) -> None:
        n = next(_numbers)
        body = {
            "book": {
                "isbn": f"978{random.randrange(10**10):010d}",
                "title": f"Load book {os.getpid()}-{n}",
                "authors": ["A. Writer"],
                "copies": 1,
            }
        }
        for _ in range(3 if RETRY_POSTS else 1):
            answer = self.client.post("/api/books", json=body, name="CreateBook")
            if answer.status_code != 502:
                return
