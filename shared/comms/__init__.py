"""Communications: the outbox worker. Areas register the renderer of each message they queue."""
