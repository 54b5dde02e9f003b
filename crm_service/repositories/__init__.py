"""One repository per collection: the only code that speaks pymongo."""
