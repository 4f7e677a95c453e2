"""The pure domain core: festival topology, sale and coupon rules, routing, attribution, admission, tokens. No I/O."""
