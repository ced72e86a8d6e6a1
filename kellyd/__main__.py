from kellyd.cli import main

raise SystemExit(main())
