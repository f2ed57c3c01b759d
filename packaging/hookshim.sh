#!/bin/sh
# /usr/bin/hookshim: the packaged zipapp with the system Python, isolated (-I).
exec /usr/bin/python3 -I /usr/lib/hookshim/hookshim.pyz "$@"
