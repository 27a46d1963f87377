weir serve --port 59577 --num-kv-blocks 4096 --stream-stall-timeout 5
