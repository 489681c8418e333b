# The original pysessions README (../shared/seeds/001_5efddd2bcdbc4a2f.txt, section "Here's a basic example"), kept as the seed
# writes it: tests/test_seed_examples.py runs this file against the embedded httpbin after replacing only
# the tokens its SUBSTITUTIONS table lists (the base URL).
# Reconstruction: the code block verbatim; the capture's "Output" lines (printed results) are left out.
# This file is data, not a test module: ruff skips tests/seed/, pytest does not collect it.

from sessions import Session

# Create a new Session
client = Session()

# Make a GET request
response = client.get('https://httpbin.org/ip')

# Print the response
print(response.json)
