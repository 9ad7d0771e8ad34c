"""nemotron-kit's Hydra plugins. Nothing is re-exported here: Hydra scans the modules itself."""
