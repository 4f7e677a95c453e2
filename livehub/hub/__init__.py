"""Local fan-out on one node.

``fanout`` (the Hub façade and the hot path: batching, flush, sliced writes), ``channel``
(a channel's state on this node), ``subscriptions`` (joins, leaves, the broker subscription
and its delayed release), ``gapfill`` (order guards: gap fill, resync), ``connection`` (one
client's outbound side, backpressure), ``stats`` (the node's counters).
"""
