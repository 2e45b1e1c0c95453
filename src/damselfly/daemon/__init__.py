"""dfdaemon: downloads tasks piece by piece, stores them and serves them to other peers."""
