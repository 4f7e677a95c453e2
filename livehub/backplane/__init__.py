"""How an event published on one node reaches every node: the Broker interface, memory and Redis."""
