"""The fault server: the fake API and its scenarios over real sockets on loopback, with a
DNS stub (``resolver``) and a network sandbox (``sandbox``) for connect-phase scenarios."""
