from microgrid.cli import main

raise SystemExit(main())
