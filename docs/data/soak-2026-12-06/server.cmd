/work/wt-soak/target/release/weir serve --port 50649 --num-kv-blocks 4096 --stream-stall-timeout 5
