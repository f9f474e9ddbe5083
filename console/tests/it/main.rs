//! The console on a five-node network, driven in headless Chromium.
