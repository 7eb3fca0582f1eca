"""The ``docker`` provider: swarm-mode clusters whose nodes are Docker-in-Docker containers."""
