# The original pysessions README (../shared/seeds/001_5efddd2bcdbc4a2f.txt, section "Multiple requests and callbacks are supported"), kept as the seed
# writes it: tests/test_seed_examples.py runs this file against the embedded httpbin after replacing only
# the tokens its SUBSTITUTIONS table lists (the base URL).
# Reconstruction: the code block verbatim; the "Output" lines are left out.
# This file is data, not a test module: ruff skips tests/seed/, pytest does not collect it.

from sessions import Session

def callback(response):
    print(f"Response status: {response.ok}")

urls = (f"https://httpbin.org/get?id={x}" for x in range(100))
s = Session()

s.requests(urls, method="GET", callbacks=[callback])

