# The original pysessions README (../shared/seeds/001_5efddd2bcdbc4a2f.txt, section "Callbacks can be configured to return results"), kept as the seed
# writes it: tests/test_seed_examples.py runs this file against the embedded httpbin after replacing only
# the tokens its SUBSTITUTIONS table lists (the base URL).
# Reconstruction: the code block verbatim; the "Output" lines are left out.
# This file is data, not a test module: ruff skips tests/seed/, pytest does not collect it.

import random
from sessions import Session
from sessions.config import SessionConfig

SessionConfig.return_callbacks = True

def callback1(response):
    if response.ok:
        # Some work here
        return {"callback": "callback1", "status": "success"}
    return {"callback": "callback1", "status": "fail"}

def callback2(response):
    if response.ok:
        # Some work here
        return {"callback": "callback2", "status": "success"}
    return {"callback": "callback2", "status": "fail"}


urls = [
    "https://httpbin.org/status/200",
    "https://httpbin.org/status/404",
]

choices = random.choices(urls, k=5, weights=[0.9, 0.1])
s = Session()

responses = s.requests(choices, callbacks=[callback1, callback2])
for response in responses:
    print(response.callbacks)
