from eventreg.cli import main

main()
