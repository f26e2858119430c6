"""HTTP starters (Durable client functions): validate requests and start workflows."""
