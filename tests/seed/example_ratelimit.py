# The original pysessions README (../shared/seeds/001_5efddd2bcdbc4a2f.txt, section "RatelimitMixin / Usage / Basic"), kept as the seed
# writes it: tests/test_seed_examples.py runs this file against the embedded httpbin after replacing only
# the tokens its SUBSTITUTIONS table lists (the base URL, and the URL count, so the run stays short).
# Reconstruction: the code block verbatim.
# This file is data, not a test module: ruff skips tests/seed/, pytest does not collect it.

from sessions import Session, AsyncSession, RatelimitMixin

class Session(RatelimitMixin, Session):
    pass

# algorithm type can be specified by a variety of keyword args, most commonly: type, ratelimiter, ratelimit, rate_limit, limiter, limitertype
session = Session(backend="memory", type="slidingwindow", window=1, limit=10, per_host=True)
urls = ["https://httpbin.org/uuid"] * 100

session.requests(urls)
