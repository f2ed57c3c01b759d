"""``hookaudit demo``: a simulated fleet of libvirt hosts driving the real shim into a real server.

- ``corpus``    guest XML templates (the libvirt corpus, or built-ins when it is absent)
- ``fleet``     hosts and guests, seeded
- ``lifecycle`` which hook calls libvirtd makes per lifecycle event and driver
- ``scenario``  the seeded stream of actions (boots, migrations, denials, outages, ...)
- ``simhost``   one host's dirs and its installed launcher, called as libvirtd calls it
- ``driver``    executes actions as hook calls, with libvirt's failure semantics
- ``store``     the demo's SQLite store, logins, tokens and server process
- ``runner``    the whole run; ``cli`` its command line; ``lag`` end-to-end lag measurement
"""
