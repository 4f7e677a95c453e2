"""Redis adapters of commerce: keys, Lua scripts and their batcher, sales, coupons, stores, orders, guides."""
