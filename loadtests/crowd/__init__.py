"""The locust crowd of loadtests/locustfile.py: options, tokens, the target festival, websocket
sessions that report to locust's statistics, the user classes and the load shapes."""
