# The two commands of the README, and `make dist` (docs/fleet.md).
.PHONY: demo test dist
demo:   ## set up and run the server on SQLite with a simulated fleet
	scripts/demo.sh $(ARGS)
test:   ## set up and pass the test suite (SQLite and, when reachable, PostgreSQL)
	scripts/test.sh $(ARGS)
dist:   ## build the host artefacts into dist/: hookshim.pyz, the .deb, SHA256SUMS (ARGS="--rpm")
	python3 scripts/build_dist.py $(ARGS)
