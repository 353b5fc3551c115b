"""Unit tests of the shopping cart aggregate: Given events / When command / Then events."""
