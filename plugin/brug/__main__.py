from brug.cli import main

main()
