from transplant.app import main

main()
