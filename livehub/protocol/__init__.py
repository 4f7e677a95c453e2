"""The sans-I/O wire protocol: codecs, inbound commands, outbound frames, channel events."""
