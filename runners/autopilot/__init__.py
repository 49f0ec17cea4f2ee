"""From a failing model to a configuration that works: the ladder of relaunches, cheap
rungs on dummy weights, and the practical max length."""
