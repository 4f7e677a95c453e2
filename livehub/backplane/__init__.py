"""How an event published on one node reaches every node: the Broker interface (``broker``),
its in-process sibling (``memory``) and its Redis sibling (``redis_broker``)."""
