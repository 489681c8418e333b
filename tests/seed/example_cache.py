# The original pysessions README (../shared/seeds/001_5efddd2bcdbc4a2f.txt, section "To utilize ratelimiting and caching features"), kept as the seed
# writes it: tests/test_seed_examples.py runs this file against the embedded httpbin after replacing only
# the tokens its SUBSTITUTIONS table lists (the base URL).
# Reconstruction: the code block verbatim; the "Output" lines are left out.
# This file is data, not a test module: ruff skips tests/seed/, pytest does not collect it.

from sessions import Session, CacheMixin

class Session(CacheMixin, Session):
    pass

client = Session()

url = 'https://httpbin.org/get?id=5013'

response = client.get(url)
print(response.json)

print(client.cache[url])
