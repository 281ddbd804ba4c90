#!/bin/sh
# Trivial payload: proves boot, modules, tools and a kprobe work. Replaced by the scenario runner.
echo "hello from guest"
/usr/sbin/ip -V; /usr/sbin/nft -v; /usr/sbin/bpftool version | head -1
echo 'p:vmtest ip_rcv' > /sys/kernel/tracing/kprobe_events && echo KPROBE_OK
echo > /sys/kernel/tracing/kprobe_events
