target/release/weir serve --port 46643 --num-kv-blocks 4096 --stream-stall-timeout 5
