//! parley-client (in progress: the qr module lands next).
