# The original pysessions README (../shared/seeds/001_5efddd2bcdbc4a2f.txt, section "CacheMixin / Usage"), kept as the seed
# writes it: tests/test_seed_examples.py runs this file against the embedded httpbin after replacing only
# the tokens its SUBSTITUTIONS table lists (the base URL — the example's placeholder API host).
# Reconstruction: the code block verbatim.
# This file is data, not a test module: ruff skips tests/seed/, pytest does not collect it.

from sessions import Session, CacheMixin, RatelimitMixin

class Session(CacheMixin, RatelimitMixin, Session):
    pass

client = Session()

url = 'https://api.example.com/data'

response = client.get(url)

print(client.cache[url])
