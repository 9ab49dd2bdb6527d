from eventreg.entry import main

main()
