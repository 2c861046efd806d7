from controller.entry import main

raise SystemExit(main())
