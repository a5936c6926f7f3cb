"""Data sets on this machine: class folders, seeded subsets."""
