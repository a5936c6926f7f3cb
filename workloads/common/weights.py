"""The one error for model weights that are not where they were said to be (fruits backends, face embedders)."""


class WeightsNotFound(ValueError):
    """A model's weights file is missing or was not given; the message names the file or option and the fix.

    A ValueError (a bad command-line value), so the jobs and ``clusterctl bench`` catch it with the other
    invalid-weights errors (a wrong SHA-256, a file that is not the model's state_dict) before any executor starts.
    """
